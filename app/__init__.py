"""r2etl-viewer: the Qt desktop front end. Composes r2etl_core's sources, engine and recorder
with pyqtgraph views; never runs the model on the GUI thread."""
