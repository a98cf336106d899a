"""The App's dealings with GitHub: its webhooks (``webhooks``, with the ``delivery_store`` that makes a
redelivery harmless and the bounded ``worker_pool``), talking to GitHub as the App (``app_client``), a project's
own CI run recorded as its build cell (``project_ci_builds``), the pull request that moves ``stable_ref`` to a
new release (``stable_ref_bump``), issues for cells that keep failing (``failure_issues`` and their
``failure_issue_store``), check runs on projects' tested commits (``check_runs``) and starting a workflow
run (``workflow_dispatch``, and ``crosscloud trigger`` in ``trigger_command``). It builds on
``crosscloud_app.web`` and imports no other surface.

``create_app`` registers ``webhooks``, ``failure_issues`` and ``check_runs`` itself: this file stays empty so
that the ``crosscloud`` command, which loads ``trigger_command``, does not load Flask and the webhooks with it."""
