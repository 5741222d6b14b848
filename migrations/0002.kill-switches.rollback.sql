-- Without the table every guarded append is refused (fail closed) until it is re-applied.
DROP TABLE IF EXISTS kill_switch;
