DROP SCHEMA proposals CASCADE;
ALTER TABLE core.task DROP COLUMN deleted;
ALTER TABLE core.spec DROP COLUMN deleted;
ALTER TABLE core.workspace DROP COLUMN allow_draft_tasks;
