"""The market model: customers and firms, one module per mechanism (phases/ holds the period).
"""
