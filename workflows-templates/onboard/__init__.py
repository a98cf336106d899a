"""The cookiecutter template of ``crosscloud onboard``, as package data (``crosscloud.onboard_template``).
cookiecutter renders only ``{{cookiecutter.name}}/`` and runs ``hooks/``; this file is not part of what it
generates."""
