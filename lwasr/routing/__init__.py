"""The learned router (``lwasr router``): a language classifier on the frozen base encoder that routes experts.

:mod:`~lwasr.routing.config` (settings), :mod:`~lwasr.routing.model` (the classifier, pooling, the unit on
disk), :mod:`~lwasr.routing.train` (features, training, LID accuracy), :mod:`~lwasr.routing.system` (the
decodable ``router`` unit). See docs/decoding.md.
"""
