"""Publication figures for fit results (matplotlib, Agg backend, PNG + PDF).

A fitter draws its own results through ``FitterConfig.figure``; the drawing
functions of the built-in laws are in ``difflaws.plots.figures`` and the
house style in ``difflaws.plots.style``.
"""
