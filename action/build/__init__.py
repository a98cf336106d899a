"""The build stage: resolve the release's ref and produce a ``Pinned`` (``source.py`` builds, ``reuse.py``
pins what was already published), from the release's ``BuildSpec`` (``crosscloud.stage_specs``:
``project.build.for_release(release)`` lays the per-release overrides over the rest)."""
