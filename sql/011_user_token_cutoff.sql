-- Access tokens of a user issued before this second stop working: a password change or disabling
-- the user sets it, so a stolen token does not outlive either.
alter table users add column tokens_valid_from timestamptz;
