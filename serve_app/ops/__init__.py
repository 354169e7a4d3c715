"""serve_app/ops"""
