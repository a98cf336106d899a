"""The pages people read: the dashboard grid (``dashboard``), a project's and a cell's history
(``project_pages``) and the Atom feed of status changes (``feed``). It builds on ``crosscloud_app.web``."""
