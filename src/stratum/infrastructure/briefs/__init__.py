"""Morning briefs and weekly reports: read a window's rows, compose, render, store."""
