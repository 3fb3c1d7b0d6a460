-- Departments changes reach every replica like other catalog changes: the service keeps the set of
-- existing departments (a token's department must be one of them) and reloads it on this NOTIFY.
create trigger departments_changed after insert or update or delete or truncate on departments
    for each statement execute function notify_catalog_change();
