"""CTI adapter: Asterisk over AMI turned into domain events, and call control actions."""
