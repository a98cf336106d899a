"""What changed between the commit a previous publish shows and the tip: the cells an incremental publish must
render again, or None when everything must be (see ``publish_command``)."""

from __future__ import annotations

from datetime import timedelta

from crosscloud import layout
from crosscloud.cell_rules import is_stale
from crosscloud.records import CellKey, parse_time
from crosscloud.status_repo.reader import StatusIndex
from crosscloud_app.publish.site_files import Manifest
from crosscloud_app.web.status_state import Snapshot


def changed_cells(index: StatusIndex, snapshot: Snapshot, previous: Manifest) -> set[CellKey] | None:
    """The cells whose files changed since ``previous.commit``, and those whose staleness differs between the
    previous commit's time and this one's; None when the previous commit is not an ancestor of the tip, the
    configuration changed, or the previous manifest has no time to compare with."""
    git = index.git
    if previous.commit == snapshot.commit:
        return set()
    if not previous.as_of or snapshot.as_of is None:
        return None
    ancestor = git.run("merge-base", "--is-ancestor", previous.commit, snapshot.commit, check=False)
    if ancestor.returncode != 0:
        return None
    names = git.text("diff", "--name-only", "--no-renames", previous.commit, snapshot.commit, "--").splitlines()
    if layout.CONFIG_PATH in names:
        return None
    cells = {key for key in map(layout.parse_cell_path, names) if key is not None}
    then, now = parse_time(previous.as_of), snapshot.as_of
    for key, entry in snapshot.current.items():
        if key in cells:
            continue
        project = snapshot.config.projects.get(key.project)
        timeout = timedelta(seconds=project.timeout if project else 0)
        stale_after = snapshot.config.stale_after
        was, is_now = is_stale(entry, then, stale_after, timeout), is_stale(entry, now, stale_after, timeout)
        if (was is None) != (is_now is None):
            cells.add(key)
    return cells
