"""Files ``stacworks algorithm init`` copies into a new algorithm repository (see
``processing/scaffold.py``): ``common/`` for every language, then the language's own folder.
``@@NAME@@``-style tokens are replaced; ``github``, ``dockerignore`` and ``gitignore`` get
their leading dot when written (package data keeps no hidden files)."""
