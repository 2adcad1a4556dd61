"""See before you spend: a local preview of a manifest's rules and a static HTML contact sheet.

- :mod:`.build` collects what the page shows (manifest + state + image files) and writes the folder
  (``index.html`` + ``images/``), self-contained so it can be zipped and attached to a review;
- :mod:`.html` renders the page from that data (pure: no I/O);
- :mod:`.preview` runs the rules on the embedded local engine in a scratch folder, never touching
  the real state file or output buckets, then writes the contact sheet;
- :mod:`.cli` holds the ``preview`` and ``report`` commands (registered by ``specrunner.cli.main``).
"""
