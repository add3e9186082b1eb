"""Offline evaluation on real data: ranking metrics, leak-proof temporal splits and the
创业邦 (cyzone) investment-event loader."""
