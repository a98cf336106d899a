"""The status repository: a git repository with one JSON file per cell (see ``crosscloud.layout``).

``writer`` commits records, contention-safe; ``reader`` indexes history incrementally; ``seed`` creates one."""
