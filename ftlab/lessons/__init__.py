"""One module per notebook (00-07): each builds its notebook's experiment from ftlab.core only."""
