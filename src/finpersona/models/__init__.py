"""Prediction: scorecards, lifetime value, propensity, churn, risk grade, segments, lifecycle.

Every estimator follows the scikit-learn contract; a spec per registered model says
where its features and outcomes come from (engine expressions over the warehouse)
and which model tags it writes. Training reads samples into Python; scoring all
customers runs in the engine.
"""
