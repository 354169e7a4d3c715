"""serve_app/http"""
