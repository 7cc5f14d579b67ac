"""Forms of the month console: what a staff member types or picks, checked; no rule lives here."""

from __future__ import annotations

from typing import Any

from django import forms

from meisai.billing_calendar import BillingMonth
from meisai.core.management.commands.export import EXPORTS
from meisai.imports.models import ImportBatch
from meisai.imports.reading import ENCODINGS


class MonthField(forms.CharField):
    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("label", "請求月")
        kwargs.setdefault("max_length", 7)
        kwargs.setdefault("widget", forms.TextInput(attrs={"placeholder": "YYYY-MM"}))
        super().__init__(**kwargs)

    def clean(self, value: Any) -> BillingMonth:  # type: ignore[override]
        text = super().clean(value)
        try:
            return BillingMonth.parse(text)
        except ValueError as error:
            raise forms.ValidationError(str(error)) from error


class UploadForm(forms.Form):
    kind = forms.ChoiceField(label="種類", choices=ImportBatch.Kind.choices)
    file = forms.FileField(label="ファイル(CSV)")
    encoding = forms.ChoiceField(
        label="文字コード",
        required=False,
        choices=[("", "自動判定"), *((e, e) for e in ENCODINGS)],
    )
    append = forms.BooleanField(
        label="追加取込(--append): 取込済みの月に行を追加する(承認が必要)", required=False
    )


class CloseForm(forms.Form):
    month = MonthField()
    #: The dry run whose figures were shown: present, the close is confirmed.
    dry_run_job = forms.IntegerField(required=False, widget=forms.HiddenInput)


class ReasonForm(forms.Form):
    reason = forms.CharField(
        label="理由", max_length=2000, required=False, widget=forms.Textarea(attrs={"rows": 2})
    )


class PublishRequestForm(ReasonForm):
    month = MonthField()


class ExportForm(forms.Form):
    kind = forms.ChoiceField(label="出力", choices=[(kind, kind) for kind in sorted(EXPORTS)])
    month = forms.CharField(label="請求月", max_length=7, required=False)
    since = forms.CharField(label="以降(本人認証サービス)", max_length=40, required=False)
    encoding = forms.ChoiceField(
        label="文字コード", choices=[("cp932", "cp932"), ("utf-8", "utf-8")]
    )
