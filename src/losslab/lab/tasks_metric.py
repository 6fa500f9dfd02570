"""(lab tasks being written)"""
