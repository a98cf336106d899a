"""Where deploy and e2e happen once a target is provisioned: on the host (``host.py``, the ``local`` cloud)
or in a Kubernetes cluster (``kubernetes.py``). Every runtime implements ``interface.Runtime``."""
