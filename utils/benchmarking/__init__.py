"""benchmark.py's measurements: one model in every format (or given files), each measured the
same way on the user's data and machine (:mod:`.measure`), and the table they make
(:mod:`.report`)."""
