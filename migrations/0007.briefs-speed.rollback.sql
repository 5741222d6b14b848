DROP INDEX IF EXISTS briefs.briefs_fact_notes_idx;
DROP TABLE IF EXISTS briefs.tally;
DROP TABLE IF EXISTS briefs.task_moves;
DROP TABLE IF EXISTS briefs.entity_latest;
DROP TABLE IF EXISTS briefs.entity_state;
