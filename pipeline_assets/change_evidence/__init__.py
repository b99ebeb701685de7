"""The change's evidence, collected by the trusted ChangeEvidence step before any of the change's code runs.

`collect.py` is not imported by anything that runs in AWS: constructs/change_evidence.py copies its
text into the deployed build spec, so the program that judges a commit is the one already deployed,
never the commit's own copy.
"""
