-- Meta's 24-hour customer-service window, per business number and contact: open for 24 h
-- after the contact's last message to that number, closed early by Meta's 131047.
CREATE TABLE service_windows (
    phone_number_id text NOT NULL,
    wa_id           text NOT NULL,
    last_inbound_at timestamptz,
    closed_at       timestamptz,
    PRIMARY KEY (phone_number_id, wa_id)
);
