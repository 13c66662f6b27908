"""aiodfu's own fault campaign: ``python -m chaos --budget SECONDS --seed N [BACKEND...]``.

Seeded, replayable cases over every backend, each with one fault drawn through
:mod:`aiodfu.testing`'s public fault API, classified as verified, typed failure,
unverifiable or BAD. See docs/reliability.md.
"""
