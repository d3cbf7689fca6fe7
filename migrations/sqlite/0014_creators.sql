-- Creating apps is for admins and for users an admin marks as creators;
-- an invite may carry the mark to the user it signs up.
ALTER TABLE users ADD COLUMN is_creator BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE invites ADD COLUMN is_creator BOOLEAN NOT NULL DEFAULT FALSE;
