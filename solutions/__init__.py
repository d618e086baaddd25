"""Reference solutions: the only place solution code lives. ``rnnkit build`` inlines these bodies into the
instructor's source notebooks; the hidden suites import them as the reference."""
