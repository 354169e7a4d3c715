"""Training and evaluation of the text ensemble: data readers, the trainer and the measures.

Nothing here runs in the service; the service loads what ``train`` wrote under
``deployments/text/artifacts``.
"""

# The parts of ``modserve eval text``, in the order they run and report.
EVAL_PARTS = ("validation", "ordinary", "obfuscation", "fairness", "agreement")
