"""Forms of the member pages of the console: the search box and the actions, each with its
reason. Every field is bounded (SPEC 3.10, "Bounded input")."""

from __future__ import annotations

from django import forms

from meisai.billing_calendar import BillingMonth
from meisai.members.models import DeliveryPreference

#: The longest query a search takes (a mail address is the longest thing searched for).
QUERY_MAX_LENGTH = 100
#: As long as the delivery history keeps (``DeliveryPreference.reason``).
REASON_MAX_LENGTH = 200


class MemberSearchForm(forms.Form):
    q = forms.CharField(label="検索", max_length=QUERY_MAX_LENGTH, required=False, strip=True)


class ReasonForm(forms.Form):
    """What every action asks: why (the member's call, the counter, ...)."""

    reason = forms.CharField(
        label="理由",
        max_length=REASON_MAX_LENGTH,
        required=True,
        strip=True,
        error_messages={"required": "理由を入力してください。"},
    )


class DeliveryChangeForm(ReasonForm):
    method = forms.ChoiceField(label="明細の受け取り方", choices=DeliveryPreference.Method.choices)


class StatementMailForm(ReasonForm):
    month = forms.CharField(label="請求月", max_length=7)

    def clean_month(self) -> BillingMonth:
        try:
            return BillingMonth.parse(self.cleaned_data["month"])
        except ValueError as error:
            raise forms.ValidationError("請求月はYYYY-MMで指定してください。") from error
