-- Registry users who sign in with a password and receive a short-lived JWT. Users of an external
-- OpenID issuer are not stored here: their token carries their roles.
create table users (
  id uuid primary key,
  username text not null,
  -- scrypt parameters, salt and derived key, as written by src/auth/password.ts.
  password_hash text not null,
  roles text[] not null check (roles <@ array['admin', 'clinician', 'steward', 'auditor']::text[]),
  disabled boolean not null default false,
  created_at timestamptz not null,
  updated_at timestamptz not null,
  created_by text not null
);

-- Usernames compare case-insensitively, so `Alice` and `alice` cannot be two accounts.
create unique index users_username_idx on users (lower(username));

-- Failed sign-ins per key (`user:<name>` or `address:<ip>`), for the login rate limit. A row is
-- removed by a successful sign-in of its account.
create table login_failures (
  key text primary key,
  failures integer not null,
  window_started_at timestamptz not null,
  locked_until timestamptz
);

-- Changes to users (creation, roles, disabling, password resets) are audited like record changes.
-- The password hash never enters an audit row.
alter table audit_log drop constraint audit_log_entity_type_check;
alter table audit_log
  add constraint audit_log_entity_type_check
  check (entity_type in ('patient', 'condition', 'user'));
