-- Access tokens of a user issued before this instant stop working. A password change or disabling
-- the user sets it, so a stolen token does not outlive either.
alter table users add column tokens_valid_from timestamptz;
