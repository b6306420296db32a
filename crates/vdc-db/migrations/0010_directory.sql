-- Users from an LDAP directory (issue 7). A directory user's entry (NULL for local users,
-- whose password hash is ours); a role binding mapped from a directory group names that group
-- (NULL for roles granted in vdc). Each login replaces the bindings its groups map to.
ALTER TABLE users ADD COLUMN directory_dn TEXT;
ALTER TABLE role_bindings ADD COLUMN from_group TEXT;
