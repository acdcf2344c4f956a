"""Display widgets. Each view is fed from the window's display timer with engine outputs and
never talks to the engine itself."""
