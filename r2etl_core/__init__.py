"""r2etl core library: event sources, slicing, the R2ETL spiking network, streaming engine.

Never imports Qt; the viewer in ``app/`` composes these pieces.
"""

__version__ = "0.1.0"
