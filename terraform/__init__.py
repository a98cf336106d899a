"""The terraform modules, one per cloud, as package data (``crosscloud.terraform``): an installed
``crosscloud`` finds them with ``importlib.resources`` (``crosscloud.packaged.terraform_modules``)."""
