"""Attribution: why did the network decide this, and how much can we trust the answer.

Entry point :func:`explain` (one method) and :func:`compare` (several side by side with
their faithfulness scores); the methods are also classes with the same call.
"""
