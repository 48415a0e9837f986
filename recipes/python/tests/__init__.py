# The recipe's modules live in app/ (copied to /app in the image).
import os
import sys

sys.dont_write_bytecode = True  # keep the build context free of __pycache__
sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), 'app'))
