"""serve_app/bulk"""
