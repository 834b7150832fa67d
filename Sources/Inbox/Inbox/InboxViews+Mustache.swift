import Mustache

// Lookups by a switch instead of `Mirror`: mustache asks for every `{{name}}` of every item, and reflection
// made a 50-item page cost ~25 ms of CPU. Keep each switch in step with its struct's stored properties. Pages
// that embed a `Chrome` answer its names (title, client, CSRF token) through it.

extension Chrome: MustacheParent {
    func child(named name: String) -> Any? {
        switch name {
        case "documentTitle": documentTitle
        case "signedIn": signedIn
        case "clientID": clientID
        case "clientName": clientName
        case "csrfToken": csrfToken
        default: nil
        }
    }
}

extension LoginView: MustacheParent {
    func child(named name: String) -> Any? {
        switch name {
        case "documentTitle": documentTitle
        case "signedIn": signedIn
        case "loginToken": loginToken
        case "errorText": errorText
        case "next": next
        case "loginNotice": loginNotice
        default: nil
        }
    }
}

extension OptionView: MustacheParent {
    func child(named name: String) -> Any? {
        switch name {
        case "value": value
        case "label": label
        case "isSelected": isSelected
        default: nil
        }
    }
}

extension SlackInstallView: MustacheParent {
    func child(named name: String) -> Any? {
        switch name {
        case "workspace": workspace
        case "installedAtISO": installedAtISO
        case "installedAtText": installedAtText
        case "isRevoked": isRevoked
        default: nil
        }
    }
}

extension SlackSettingsView: MustacheParent {
    func child(named name: String) -> Any? {
        switch name {
        case "triggerEmojiText": triggerEmojiText
        case "notifyChannelText": notifyChannelText
        case "notifyProblemText": notifyProblemText
        case "missingScopesText": missingScopesText
        default: nil
        }
    }
}

extension SingleItemView: MustacheParent {
    func child(named name: String) -> Any? {
        switch name {
        case "chrome": chrome
        case "item": item
        case "listHref": listHref
        case "listLabel": listLabel
        default: chrome.child(named: name)
        }
    }
}

extension ListView: MustacheParent {
    func child(named name: String) -> Any? {
        switch name {
        case "chrome": chrome
        case "noticeText": noticeText
        case "slackSettings": slackSettings
        case "sourceOptions": sourceOptions
        case "environmentOptions": environmentOptions
        case "searchText": searchText
        case "environmentsCut": environmentsCut
        case "environmentsHint": environmentsHint
        case "allEnvironmentsHref": allEnvironmentsHref
        case "filterSummary": filterSummary
        case "isFiltered": isFiltered
        case "slackInstall": slackInstall
        case "slackButtonLabel": slackButtonLabel
        case "slackConfigured": slackConfigured
        case "items": items
        case "hasItems": hasItems
        case "newerHref": newerHref
        case "hasPages": newerHref != nil || olderHref != nil
        case "previousHref": previousHref
        case "olderHref": olderHref
        case "exportHref": exportHref
        case "setupClientID": setupClientID
        case "setupDemoHref": setupDemoHref
        default: chrome.child(named: name)
        }
    }
}

extension ConfirmView: MustacheParent {
    func child(named name: String) -> Any? {
        switch name {
        case "chrome": chrome
        case "item": item
        case "deleteID": deleteID
        case "returnSource": returnSource
        case "returnEnvironment": returnEnvironment
        case "returnText": returnText
        case "returnCursor": returnCursor
        case "cancelHref": cancelHref
        default: chrome.child(named: name)
        }
    }
}

extension MessageView: MustacheParent {
    func child(named name: String) -> Any? {
        switch name {
        case "chrome": chrome
        case "heading": heading
        case "text": text
        case "backHref": backHref
        case "backLabel": backLabel
        default: chrome.child(named: name)
        }
    }
}

extension LinkView: MustacheParent {
    func child(named name: String) -> Any? {
        switch name {
        case "isLink": isLink
        case "href": href
        case "text": text
        default: nil
        }
    }
}

extension ScreenshotView: MustacheParent {
    func child(named name: String) -> Any? {
        switch name {
        case "fullHref": fullHref
        case "alt": alt
        default: nil
        }
    }
}

extension SlackCaptureView: MustacheParent {
    func child(named name: String) -> Any? {
        switch name {
        case "channel": channel
        case "method": method
        case "permalink": permalink
        default: nil
        }
    }
}

extension ReplayView: MustacheParent {
    func child(named name: String) -> Any? {
        switch name {
        case "replayID": replayID
        case "offsetText": offsetText
        default: nil
        }
    }
}

extension ItemView: MustacheParent {
    func child(named name: String) -> Any? {
        switch name {
        case "itemID": itemID
        case "ratingText": ratingText
        case "headingDetail": headingDetail
        case "ratingClass": ratingClass
        case "sourceValue": sourceValue
        case "sourceLabel": sourceLabel
        case "environmentLabel": environmentLabel
        case "createdAtISO": createdAtISO
        case "createdAtText": createdAtText
        case "comment": comment
        case "commentCut": commentCut
        case "itemHref": itemHref
        case "pageLink": pageLink
        case "pageTitle": pageTitle
        case "referrer": referrer
        case "userEmail": userEmail
        case "userEmailHref": userEmailHref
        case "endUserID": endUserID
        case "replay": replay
        case "slackCapture": slackCapture
        case "screenshots": screenshots
        case "hasScreenshots": hasScreenshots
        case "metadataJSON": metadataJSON
        case "deleteHref": deleteHref
        case "showActions": showActions
        case "itemNotice": itemNotice
        default: nil
        }
    }
}
