-- Roles per scope (issue 7). A user holds roles through bindings, each global, in one
-- department or in one cluster. Built-in roles (admin, operator, requester, approver, auditor,
-- viewer) are defined in code; custom roles are named permission lists here.
CREATE TABLE roles (
    name TEXT PRIMARY KEY,
    description TEXT NOT NULL,
    -- JSON array of permission names.
    permissions TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE role_bindings (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    role TEXT NOT NULL,
    department_id TEXT REFERENCES departments(id),
    cluster_id TEXT REFERENCES clusters(id),
    created_at BIGINT NOT NULL
);
CREATE INDEX role_bindings_user ON role_bindings (user_id);

-- Each user's single role becomes a binding at the scope it had (its department, else global);
-- users.department_id stays as the department the user belongs to.
INSERT INTO role_bindings (id, user_id, role, department_id, cluster_id, created_at)
    SELECT id, id, role, department_id, NULL, created_at FROM users;
ALTER TABLE users DROP COLUMN role;
