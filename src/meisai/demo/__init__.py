"""The demo: realistic core-system files with a fixed seed, loaded through the real importers.

``generator`` writes the files (products, members, legacy enrolments, points, one usage file
per billing month); ``loader`` imports them with :func:`meisai.imports.services.import_file`,
records the web registrations and paper stops the demo story needs, loads the flyer's
campaign, and closes and publishes every billing month with the statements services.
"""
