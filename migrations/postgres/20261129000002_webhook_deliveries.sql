-- Repository/organisation webhook deliveries already handled (X-GitHub-Delivery), so a
-- replayed delivery is answered without being processed again.
CREATE TABLE webhook_deliveries (
    delivery_id TEXT    PRIMARY KEY,
    event       TEXT    NOT NULL,
    action      TEXT    NOT NULL,
    received_at BIGINT  NOT NULL
);
CREATE INDEX webhook_deliveries_received_at ON webhook_deliveries (received_at);
