"""The Cross-Cloud CI GitHub App (package ``crosscloud_app``): dashboard, badges, history API and webhooks,
served from the status repository. It never runs a stage."""
