"""The market model: customers and firms, one module per mechanism."""
