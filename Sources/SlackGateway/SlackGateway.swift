// SlackGateway (see issue 3).
