"""``crosscloud publish``: the read side of the app as a static site (GitHub Pages, a CDN, S3, nginx).

One renderer, two outputs: every file is the answer the app itself gives for a path (``renderer`` drives the
real app over WSGI, in-process), so the templates, cell rules and badge renderer are never copied and a change
to them shows in both. The app runs with the commit clock (``settings`` ``CLOCK=commit``): whatever depends on
the time is computed as of the status repository commit, so a commit publishes the same bytes whenever it is
published. ``site_paths`` says which paths make the site and which of them a new commit can change,
``site_files`` where each path's answer is written and the ``manifest.json`` that lets the next run rewrite only
what changed, ``render_jobs`` renders the paths in worker processes, and ``publish_command`` is the command."""
