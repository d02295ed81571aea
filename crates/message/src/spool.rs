//! Spooling of incoming message data (to be written).
